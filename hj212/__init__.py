"""HJ 212 (2017 and 2005): the protocol the mines' online monitors already speak.

Pure modules (bytes in, values out): ``crc``, ``framing``, ``packet``, ``profiles``, ``encode``,
``mapping``, ``reassembly``. The TCP gateway (``gateway``) is the shell around them.
"""
