"""qz_excel: the county bureau's 质量振兴工作考核, from Excel in to Excel out."""

__version__ = "0.1.0"
