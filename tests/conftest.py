pytest_plugins = ["tests.rag_fixtures"]
