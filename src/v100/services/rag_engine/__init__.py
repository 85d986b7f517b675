"""rag_engine (:3011): documents, chunks, embeddings, semantic search and grounded answers.
Its features arrive with a later issue; today it runs, migrates and reports health."""
