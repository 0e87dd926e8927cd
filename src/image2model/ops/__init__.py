"""Operations: metrics, structured logs, log and data-file management, background services."""
