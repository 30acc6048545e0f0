"""The web layer: the dashboard's views (a module per page area), forms and template tags.

A newcomer goes from a URL to its code in one hop: kurrent/urls.py names a function in
kurrent.web.views.<area>. Views call the services (kurrent.streams, kurrent.userdata) and
read the read model through them; they hold no KurrentDB calls of their own.

    context.py      which environment a request shows, whether it may write, status readings
    http.py         the typed request, login_required for htmx, small response helpers
    access.py       loading a record or entry with its access check (404 / 403)
    outcomes.py     a service's outcome (invalid, forbidden, unavailable, conflict) -> form
                    errors and the status code, for every write view
    fragments.py    the one cache of HTML: three dashboard fragments, its key contract
    forms.py        the forms (shape only; the services own the rules)
    templatetags.py the `kurrent_extras` template library (registered in settings)
    views/          dashboard (and status, activity), records, userdata, users, events

Every response is rendered from templates and partials; the only HTML kept between
requests is in fragments.py, and it never holds anything of one request.
"""
