"""Real-name registration (Cap. 106AI): identity documents, their checks and how they are shown masked."""
