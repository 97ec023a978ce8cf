"""The Tiny Recursive Model: config, layers, model, losses, optimizers, training, inference, voting."""
