"""Sign-in values between the proto and the domain."""

from __future__ import annotations

from identity.sessions.models import AUDIENCE_PORTAL, AUDIENCE_STAFF, PENDING_ENROL, PENDING_MFA
from portal.identity.v1 import identity_pb2

AUDIENCES = {identity_pb2.AUDIENCE_PORTAL: AUDIENCE_PORTAL, identity_pb2.AUDIENCE_STAFF: AUDIENCE_STAFF}
NEXT_STEP = {
    "": identity_pb2.SIGN_IN_STEP_DONE,
    PENDING_MFA: identity_pb2.SIGN_IN_STEP_MFA_CODE,
    PENDING_ENROL: identity_pb2.SIGN_IN_STEP_MFA_ENROL,
}
