"""The Scipion workflow around the engine: the demo project and the headless
Scipion configuration used by scripts, the demo and the tests."""
