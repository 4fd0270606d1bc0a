"""Fooling images (Nguyen, Yosinski and Clune, "Deep Neural Networks are Easily Fooled",
CVPR 2015): images people see as noise or patterns that a network labels with near
certainty.

Composed like the visualisation package: encodings (:class:`DirectEncoding`,
:class:`CppnEncoding`) turn genomes into images, :func:`evolve` searches with MAP-Elites
(or one class by truncation selection), :func:`gradient_champions` optimises from noise,
:func:`evolved_champions` gives one :class:`Champion` per class, and
:mod:`chickensaviour.fooling.retraining` runs the paper's retraining rounds on MNIST.

Example::

    model = load_model("lenet5_mnist")
    result = evolve(model, make_encoding("cppn", model), SearchSettings(generations=100))
    champions = evolved_champions(model, make_encoding("cppn", model), result.archive)
"""

from chickensaviour.fooling.archive import Elite, EliteArchive
from chickensaviour.fooling.champions import Champion, evolved_champions, gradient_champions
from chickensaviour.fooling.cppn import CppnEncoding, CppnGenome, CppnSettings
from chickensaviour.fooling.encodings import DirectEncoding, Encoding, make_encoding
from chickensaviour.fooling.evolution import (
    EvolutionResult,
    GenerationStats,
    SearchSettings,
    evolve,
)

__all__ = [
    "Champion",
    "CppnEncoding",
    "CppnGenome",
    "CppnSettings",
    "DirectEncoding",
    "Elite",
    "EliteArchive",
    "Encoding",
    "EvolutionResult",
    "GenerationStats",
    "SearchSettings",
    "evolve",
    "evolved_champions",
    "gradient_champions",
    "make_encoding",
]
