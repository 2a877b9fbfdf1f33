"""An Alibaba Cloud OpenAPI emulator (alidns, SLB, CEN) that the official SDKs talk to unmodified.

``AliyunEmulator`` (emulator.py) is the HTTP front: signature/timestamp/nonce checks, dispatch by
product version, faults, call counts, state dumps. The products live in alidns.py, slb.py and cen.py;
the wire details in protocol.py. What is emulated, and where it differs from the real service, is in
docs/alibaba-emulator.md.
"""

from federation.sandbox.aliyun.emulator import AliyunEmulator

__all__ = ["AliyunEmulator"]
