"""Operations of this repository that revisions call through `op` (registered on import)."""
