"""Tencent's side: what the service is and says, with nothing of runs, stores or pandas faces.

``signing`` (TC3-HMAC-SHA256), ``credentials`` (Tencent's credential chain), ``encryption``
(the ``Encryption`` request parameter), ``codes`` and ``tenure`` (the code tables), ``actions``
(each API as data: its code table, fields and result columns), ``numbers`` (which values are
Chinese mainland mobile numbers the service can check) and ``result`` (an answer as a row and
as result columns). Imports only :mod:`mobilestatus_pandas.errors` from the rest of the package.
"""
