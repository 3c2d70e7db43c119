"""WhatsApp sessions: transports, the session state machine, manager, workers, inbox and outbox."""
