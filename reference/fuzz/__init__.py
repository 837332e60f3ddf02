"""libFuzzer harnesses of the C references (see libfuzzer.py and docs/fuzzing.md)."""
