// The two reference models of the examples and benchmarks (Fashion-MNIST, 1x28x28 inputs).
import { nn } from '@dtrain/core';

/** MLP 784-256-128-10 with ReLU. */
export function mlp(): nn.Module {
  return new nn.Sequential(
    new nn.Flatten(),
    new nn.Linear(784, 256),
    new nn.ReLU(),
    new nn.Linear(256, 128),
    new nn.ReLU(),
    new nn.Linear(128, 10),
  );
}

/** conv3x3(32)-BN-ReLU-maxpool, conv3x3(64)-BN-ReLU-maxpool, linear(128), linear(10). */
export function cnn(): nn.Module {
  return new nn.Sequential(
    new nn.Conv2d(1, 32, 3, { padding: 1 }),
    new nn.BatchNorm2d(32),
    new nn.ReLU(),
    new nn.MaxPool2d(2),
    new nn.Conv2d(32, 64, 3, { padding: 1 }),
    new nn.BatchNorm2d(64),
    new nn.ReLU(),
    new nn.MaxPool2d(2),
    new nn.Flatten(),
    new nn.Linear(64 * 7 * 7, 128),
    new nn.ReLU(),
    new nn.Linear(128, 10),
  );
}
