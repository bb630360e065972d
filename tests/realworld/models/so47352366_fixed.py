# Source: StackOverflow question 47352366, fixed version kept by the DeepLocalize benchmark:
#   Wardat-ISU/DeepLocalize, Benchmark/StackOverflow/47352366/Correct Code/untitled36.py
# Original: the MNIST CNN of case so47352366_relu_output with the accepted fix: the output layer is
#   Dense(10, activation="softmax"); categorical_crossentropy, 'adam'.
# Bug: none (healthy: the benchmark's correct twin).
# Made small: exactly as so47352366_relu_output (same factory, softmax output).
from realworld.models import so47352366_relu_output as _buggy

SOURCE = "StackOverflow 47352366 via Wardat-ISU/DeepLocalize Benchmark/StackOverflow/47352366 (Correct Code)"
FACTORY = "build"
DATA = "six_class"
HEALTHY = True
MUST_RAISE: set[str] = set()
MUST_NOT_RAISE = {"training.logits_as_probabilities", "training.cannot_overfit"}


def build(num_classes, input_shape):
    return _buggy.build(num_classes, input_shape, output_activation="softmax")
