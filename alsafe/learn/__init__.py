"""Learning: text vectors (cached), learners with scikit-learn conventions, fine-tuning, query strategies."""
