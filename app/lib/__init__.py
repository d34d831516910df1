"""Infrastructure every capability may use: settings, database, errors and their catalogue,
metrics, logs, deadlines, validation rules. Imports nothing else from app."""
