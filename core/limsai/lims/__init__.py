"""The LIMS side of limsai: the port every vendor adapter implements (``port``), its typed errors
(``errors``), the embedded reference LIMS on SQLite (``embedded``), the seeded CRO scenario
(``scenario``) and the long-CSV import (``csv_import``)."""
