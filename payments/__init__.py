"""Payment intents, provider sandboxes and a double-entry ledger."""
