"""The container image, built and run for real (`make image-test`; deselected from `make test`)."""
