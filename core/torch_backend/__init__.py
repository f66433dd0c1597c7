"""The PyTorch reference backend. Importing this package imports torch: core imports it lazily."""
