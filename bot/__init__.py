"""Code loaded by the Rasa server: input channels, input hygiene, custom components."""
