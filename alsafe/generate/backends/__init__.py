"""Generation backends: an OpenAI-compatible endpoint, the offline local model, and what they share."""
