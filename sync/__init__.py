"""YClients: the REST client, the sandbox server, and the sync of each salon's data."""
