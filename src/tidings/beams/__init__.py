"""Pure Beams domain: models, validation, Beams Tokens, ids. No I/O."""
