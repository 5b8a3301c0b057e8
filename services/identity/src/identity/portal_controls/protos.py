"""Portal controls as the proto carries them."""

from __future__ import annotations

from identity.portal_controls.home_layout import Layout
from identity.portal_controls.service import Controls
from portal.identity.v1 import identity_pb2


def layout_to_proto(layout: Layout) -> identity_pb2.HomeLayout:
    return identity_pb2.HomeLayout(
        items=[identity_pb2.HomeLayoutItem(key=k, enabled=e) for k, e in layout.items],
        default_scope=layout.default_scope,
    )


def controls_to_proto(c: Controls, layout: Layout | None = None) -> identity_pb2.PortalControls:
    return identity_pb2.PortalControls(
        home_layout=layout_to_proto(layout) if layout is not None else None,
        off_switch=identity_pb2.PortalOffSwitch(disabled=c.disabled, redirect_url=c.redirect_url),
        branding=identity_pb2.PortalBranding(
            operator_name=c.operator_name, logo_url=c.logo_url, custom_css_url=c.custom_css_url
        ),
        renewal_notice_days=c.renewal_notice_days,
    )
