"""The normative text of virtiospec: Markdown files with numbered requirements."""
