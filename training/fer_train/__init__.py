"""fer_train: train, evaluate and export the fer-edge expression model."""

FER2013_LABELS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
