"""The one helper every adaptation uses to replace an upstream function."""

__all__ = ['PATCH_MARK', 'patch']

# Set on every function an adaptation installs, so applying twice is a no-op.
PATCH_MARK = '_cim_mm_compat_patch'


def patch(owner, name, make_replacement):
    """Replace ``owner.name`` by ``make_replacement(original)`` once."""
    original = getattr(owner, name)
    if getattr(original, PATCH_MARK, False):
        return
    replacement = make_replacement(original)
    setattr(replacement, PATCH_MARK, True)
    setattr(owner, name, replacement)
