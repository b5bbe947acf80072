"""The HTTP API by concern: search (and the page), products, media (photos, clips),
events, admin. Each module's `router(...)` builds its APIRouter."""
