"""Section "generative": the GAN's divergence, mode collapse across objectives, the auto-encoder."""
