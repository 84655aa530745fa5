"""Compiles the codec's hot modules with Cython when a C compiler is at hand (about 2x faster
encoding and decoding of Values); without one the same modules run as plain Python."""

from setuptools import Extension, setup

try:
    from Cython.Build import cythonize
except ImportError:  # building without Cython: pure Python
    extensions = []
else:
    extensions = cythonize(
        [Extension(f"iii_kafka.schemas.{name}", [f"schemas/{name}.py"], optional=True)
         for name in ("varint", "value")],
        compiler_directives={"language_level": "3"},
        quiet=True,
    )

setup(ext_modules=extensions)
