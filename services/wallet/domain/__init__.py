"""The wallet's domain: accounts, holds, command receipts and identity claims. No I/O here."""
