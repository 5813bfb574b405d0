"""Make the local test CA and C2PA signing certificate the embedded run, the demo and the tests sign remixes with."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from remix.provenance import make_test_ca


class Command(BaseCommand):
    help = (
        "Write a test root CA (ca.pem) and a signing certificate it issued (chain.pem, signer.key) that c2pa accepts "
        "(ES256, CA:FALSE, digitalSignature, emailProtection EKU). Keeps existing files unless one is missing or the "
        "certificate is about to expire. For demos and tests only: production signs with the operator's certificate."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("directory", type=Path, help="the folder to write (e.g. VAR_DIR/signing)")
        parser.add_argument("--common-name", default="Remix test signer", help="the signer's CN")

    def handle(self, *args: Any, directory: Path, common_name: str, **options: Any) -> None:
        chain, key, ca = make_test_ca(directory.expanduser().resolve(), common_name=common_name)
        self.stdout.write(self.style.SUCCESS(f"Signing certificate chain: {chain}"))
        self.stdout.write(self.style.SUCCESS(f"Signing key:               {key}"))
        self.stdout.write(self.style.SUCCESS(f"Trust anchor (test CA):    {ca}"))
        self.stdout.write("Set these in the environment (the embedded defaults already point at VAR_DIR/signing):")
        self.stdout.write(f"REMIX_C2PA_CERT_CHAIN={chain}")
        self.stdout.write(f"REMIX_C2PA_PRIVATE_KEY={key}")
        self.stdout.write(f"REMIX_C2PA_TRUST_ANCHORS={ca}")
