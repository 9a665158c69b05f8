"""Registers every kernel family by name (imported lazily by the registry)."""

from . import gaussian as _gaussian
from .registry import register_kernel

register_kernel("gaussian")(_gaussian.gaussian_kernel)
register_kernel("anisotropic_gaussian")(_gaussian.anisotropic_gaussian_kernel)
register_kernel("generalized_gaussian")(_gaussian.generalized_gaussian_kernel)

from . import motion as _motion  # noqa: E402

register_kernel("motion")(_motion.motion_kernel)
register_kernel("camera_shake")(_motion.camera_shake_kernel)

from . import defocus as _defocus  # noqa: E402

register_kernel("defocus")(_defocus.disk_kernel)
register_kernel("imagenet_c_disk")(_defocus.imagenet_c_disk_kernel)

from . import optics as _optics  # noqa: E402

register_kernel("zernike")(_optics.zernike_psf)
register_kernel("myopia")(_optics.myopia_kernel)
register_kernel("astigmatism")(_optics.astigmatism_kernel)

from . import scatter as _scatter  # noqa: E402

register_kernel("scatter")(_scatter.scatter_kernel)
