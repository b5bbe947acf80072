"""Voice and video queries: speech to text with faster-whisper (models from PyPI
packages), key frames and the audio track of short clips with PyAV."""
