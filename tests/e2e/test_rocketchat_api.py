"""avatard driven by the published `rocketchat-api` client (import `rocketchat_API`), unchanged.

Register, log in, set the avatar from a PNG file and from an SVG file, follow users.getAvatar to the
image, and reset. Images are generated here with the standard library.
"""

import struct
import zlib

from rocketchat_API.rocketchat import RocketChat

from conftest import ADMIN, ADMIN_PASS


def png(width, height, rgb):
    """A minimal valid truecolour PNG."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


def png_size(data):
    assert data[:8] == b"\x89PNG\r\n\x1a\n", data[:16]
    return struct.unpack(">II", data[16:24])


def avatar(rocket, server, username):
    """The avatar as the client's own HTTP session fetches it, with headers and raw bytes."""
    response = rocket.session.get(f"{server}/avatar/{username}")
    assert response.status_code == 200
    return response


def test_the_published_client_manages_an_avatar(server, tmp_path):
    anonymous = RocketChat(server_url=server)
    assert anonymous.info()["version"].startswith("7.")

    # rocketchat-api's users_register sends `password`, which Rocket.Chat's schema (and ours)
    # refuses; Rocket.Chat's field is `pass`, so register through the client's generic call.
    registered = anonymous.call_api_post(
        "users.register", username="e2e-user", email="e2e@example.com", name="End To End", **{"pass": "e2e-pass"}
    )
    assert registered["success"] is True
    assert registered["user"]["username"] == "e2e-user"

    rocket = RocketChat("e2e-user", "e2e-pass", server_url=server)
    me = rocket.me()
    assert me["username"] == "e2e-user"
    user_id = me["_id"]

    picture = tmp_path / "avatar.png"
    picture.write_bytes(png(320, 240, (200, 30, 30)))
    assert rocket.users_set_avatar(str(picture))["success"] is True
    info = rocket.users_info(username="e2e-user")["user"]
    first_etag = info["avatarETag"]
    assert info["avatarOrigin"] == "rest"

    # users.getAvatar answers 307; the client follows it and returns the image body as text.
    assert "PNG" in rocket.users_get_avatar(username="e2e-user")[:8]
    served = avatar(rocket, server, "e2e-user")
    assert served.headers["Content-Type"] == "image/png"
    assert png_size(served.content) == (200, 200)

    drawing = tmp_path / "avatar.svg"
    drawing.write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64">'
        '<circle cx="32" cy="32" r="30" fill="#10529E"/></svg>'
    )
    assert rocket.users_set_avatar(str(drawing))["success"] is True
    info = rocket.users_info(user_id=user_id)["user"]
    assert info["avatarETag"] != first_etag
    served = avatar(rocket, server, "e2e-user")
    assert served.headers["Content-Type"] == "image/png", "SVG uploads are rasterised, never served as SVG"
    assert png_size(served.content) == (200, 200)

    assert rocket.users_reset_avatar(username="e2e-user")["success"] is True
    initials = rocket.users_get_avatar(user_id=user_id)
    assert initials.startswith('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 200 200">')
    assert "\nE\n" in initials
    assert "avatarETag" not in rocket.users_info(username="e2e-user")["user"]


def test_an_admin_resets_another_users_avatar(server, tmp_path):
    admin = RocketChat(ADMIN, ADMIN_PASS, server_url=server)
    created = admin.users_create(email="victim@example.com", name="Victim", password="victim-pass", username="victim")
    assert created["success"] is True
    victim = RocketChat("victim", "victim-pass", server_url=server)
    picture = tmp_path / "victim.png"
    picture.write_bytes(png(64, 64, (0, 128, 0)))
    assert victim.users_set_avatar(str(picture))["success"] is True
    assert avatar(victim, server, "victim").headers["Content-Type"] == "image/png"

    assert admin.users_reset_avatar(username="victim")["success"] is True
    assert victim.users_get_avatar(username="victim").startswith("<svg")
