DROP TABLE vector_points;
DROP TABLE vector_collections;
DROP TABLE knowledge_stamps;
DROP TABLE knowledge_chunks;
DROP TABLE knowledge_documents;
