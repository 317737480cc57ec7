"""What is measured: W2 and its noise floor, FID, the classifier, studies."""
