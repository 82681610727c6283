"""Bearer-token verification: who is calling. (What they may reach is the service's job.)"""
