"""Oversize signature images are refused from their header, before a pixel is decoded."""

from __future__ import annotations

import base64
import tracemalloc

import pytest
from django.urls import reverse

from confirmations import services
from confirmations.models import Application
from enrollment import hostile
from tests.test_student_pages import sign_in

MB = 1024 * 1024


def data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


@pytest.fixture(scope="module")
def png_12000():
    """12000×12000 greyscale: 144 MB of pixels (576 MB as RGBA) in a 150 KB file."""
    return hostile.png_header_only(12000, 12000)


@pytest.fixture(scope="module")
def png_above_bomb_limit():
    """14000×14000: more than twice Pillow's MAX_IMAGE_PIXELS, its DecompressionBombError."""
    return hostile.png_header_only(14000, 14000)


def test_oversize_signature_is_refused_before_decoding(png_12000):
    assert len(png_12000) < services.MAX_SIGNATURE_BYTES  # the byte limit alone lets it in
    tracemalloc.start()
    try:
        with pytest.raises(services.ConfirmationRefused) as refused:
            services.signature_from_data_url(data_url(png_12000))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "4000×4000" in refused.value.message
    assert peak < 8 * MB


def test_signature_above_pillows_bomb_limit_is_refused_not_an_error(png_above_bomb_limit):
    with pytest.raises(services.ConfirmationRefused) as refused:
        services.signature_from_data_url(data_url(png_above_bomb_limit))
    assert "像素" in refused.value.message


@pytest.mark.django_db
def test_oversize_signature_on_the_pledge_page_is_a_message_not_a_500(
    client, stored_1012, policy_year, _sms_outbox, png_above_bomb_limit
):
    sign_in(client, stored_1012[0], _sms_outbox)
    client.get(reverse("student:start"))
    response = client.post(
        reverse("student:pledge"), {"agree": "on", "signature": data_url(png_above_bomb_limit)}
    )
    assert response.status_code == 200
    assert "像素的上限" in response.content.decode()
    assert not Application.objects.exists()
