"""ai_orchestration (:3001): agents, knowledge bases, conversations and OpenAI-compatible chat.
Its features arrive with a later issue; today it runs, migrates and reports health."""
