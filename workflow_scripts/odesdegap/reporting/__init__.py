"""What is shown: tables, figures, findings, the headline."""
