"""The labelling REST API (mounted under /api/; schema at /api/schema/, docs at /api/docs/). The
routes marked * join the model's prediction or the queue, so the learning side serves them
(active_learning/api/crops.py); the rest is here.

Auth: session (CSRF enforced on writes) or `Authorization: Token <key>` from POST auth/token/.
Who: "member" = any member of the object's project (staff count as members of every project);
"reviewer" = a project reviewer or admin (roles: labeller < reviewer < admin) or staff;
"admin" = a project admin (Membership role admin) or staff. Objects of projects you are not in
answer 404; a member calling an admin (or review) operation gets 403; anonymous requests 401/403.
Errors: {"detail": "...", "code": "..."} (domain rules) or {"field": ["..."]} (bad fields).

POST   auth/token/                         anyone      {username, password} -> {token, user}
GET    me/                                 signed in   -> {id, username, is_staff}
GET    projects/                           signed in   my projects (paginated: count/next/previous/results)
POST   projects/                           staff       project settings -> 201 project (creator becomes admin)
GET    projects/{id}/                      member      project + role, is_admin, crop_counts
PATCH  projects/{id}/                      admin       any project settings (a new strategy or random_fraction
                                                       re-ranks the queue, as PUT projects/{id}/queue/settings/)
GET    projects/{id}/members/              admin       [{user_id, username, role}]
POST   projects/{id}/members/              admin       {username, role} -> 201
PATCH  projects/{id}/members/{user_id}/    admin       {role}
DELETE projects/{id}/members/{user_id}/    admin       204 (their leases return to the queue)
GET    projects/{id}/images/               member      images with n_crops, n_labelled (paginated)
POST   projects/{id}/images/               admin       multipart file (+ mask) -> 201 new / 200 duplicate
GET    images/{id}/                        member      image (file_url: its original)
GET    images/{id}/file/                   member      the original file as uploaded (attachment)
PATCH  images/{id}/                        admin       {split}
GET    projects/{id}/crops/                member      ?status=&split=&tag=&image=&assigned_to= (paginated)
GET    crops/{id}/ *                       member      crop detail: display_url, current_annotation, prediction
GET    crops/{id}/display/                 member      the crop's display PNG (display_url; private, cacheable 1 h)
PATCH  crops/{id}/ *                       admin       {pinned, priority, tags, assigned_to}
POST   projects/{id}/next/ *               member      {split?} -> 200 crop detail (leased; `rank` = its place in
                                                       the open queue) | 204 queue empty
POST   crops/{id}/lease/ *                 member      lease (or renew) this crop -> crop detail
POST   crops/{id}/skip/                    lease holder                      -> 204
POST   crops/{id}/release/                 holder/admin                      -> 204
GET    crops/{id}/annotations/             member      versions, newest first, with masks
POST   crops/{id}/annotations/             lease holder {mask (RLE) | mask_file, seconds_spent, edit_counts,
                                                         started_from, source} -> 201 (a reviewer's
                                                         submission over someone else's annotation is
                                                         review_state corrected, reviewed_by them)
GET    projects/{id}/reviews/              reviewer    ?state=submitted|accepted|corrected|returned
                                                       &order=newest|random: current annotations (paginated)
POST   annotations/{id}/review/            reviewer    {action: accept | return, comment (needed to return)}
                                                       -> annotation; 409 not_current / already_reviewed
                                                       (only a current, submitted one); a return sends the
                                                       crop back to its author, first in their queue
"""
