"""Small models trained here: LeNet-5 on MNIST (data from installed packages), checkpoints."""
