"""The employer's side: organisations, their people, assignments and the programme's status."""
