# Source: StackOverflow question 48594888 ("CNN Keras: outputs converge to the same value regardless
#   of input"), as kept by the DeepLocalize benchmark: Wardat-ISU/DeepLocalize,
#   Benchmark/StackOverflow/48594888/Buggy Code/untitled41.py.
# Original: CIFAR-10 CNN: Conv2D(64, 3, relu, he_normal) -> MaxPooling2D -> Conv2D(256, 3, relu,
#   he_normal) -> MaxPooling2D -> Flatten -> Dense(512, relu) -> Dropout(0.3) -> Dense(10, softmax);
#   'adam', categorical_crossentropy, batch 500; x_train fed as loaded: uint8 pixels 0..255.
# Bug: the inputs are not normalised (0..255 into a he_normal ReLU net): huge activations and
#   updates, and the model ends up predicting the same class for every image (the answer: divide
#   by 255).
# Made small: widths 64/256/512 -> 16/32/64, the six-class sample build at 32 px (CIFAR's size),
#   fed 0..255 exactly like the original.
from keras.layers import Conv2D, Dense, Dropout, Flatten, Input, MaxPooling2D
from keras.models import Sequential

SOURCE = "StackOverflow 48594888 via Wardat-ISU/DeepLocalize Benchmark/StackOverflow/48594888 (Buggy Code)"
FACTORY = "build"
DATA = "six_class"
HEALTHY = False
MUST_RAISE = {"training.init_loss_off"}
MUST_NOT_RAISE: set[str] = set()


def build(num_classes, input_shape):
    model = Sequential()
    model.add(Input(input_shape))
    model.add(Conv2D(filters=16, kernel_size=(3, 3), activation="relu", kernel_initializer="he_normal"))
    model.add(MaxPooling2D((2, 2)))
    model.add(Conv2D(filters=32, kernel_size=(3, 3), activation="relu", kernel_initializer="he_normal"))
    model.add(MaxPooling2D((2, 2)))
    model.add(Flatten())
    model.add(Dense(64, activation="relu"))
    model.add(Dropout(0.3))
    model.add(Dense(num_classes, activation="softmax"))
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    return model
