"""KGO's public event contracts: payload models, topic names and the balance fold."""
