"""rag_engine (:3011): documents ingested into knowledge bases (chunks, embeddings), searched by
vector, full text or both, and questions answered from them with citations."""
