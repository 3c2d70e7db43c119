"""The AI booking handler: understanding, dialogue, booking actions, reminders and reviews."""
